"""Every write to programs' data goes through a function in this package."""
