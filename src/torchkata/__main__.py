from torchkata.learn.cli import main

main()
