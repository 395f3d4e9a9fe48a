"""Stand-ins for the parts of other libraries that Merlin Models code touches."""
