"""Merlin's names over recblocks: Merlin Models code runs with only its import
lines changed (`merlin.models.tf` -> `recblocks.merlin.models.tf`, ...).
What exists and how it differs: python/MERLIN.md."""
