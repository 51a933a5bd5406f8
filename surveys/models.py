"""Survey models arrive with the surveys and metrics work (issue 7)."""
