"""Placeholder: filled in by the exercises' author."""
EXERCISES = ()
