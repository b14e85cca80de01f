"""Authoring kit: the mutation verifier behind `make check`. Never shipped."""
