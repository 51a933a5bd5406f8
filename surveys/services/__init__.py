"""Writers of the surveys app; views, admin, API and tasks call only these."""
