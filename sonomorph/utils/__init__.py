"""Small shared helpers: atomic files, progress reporting."""
