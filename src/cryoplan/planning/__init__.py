"""Treatment planning: search probe placement and freeze protocol under placement error."""
