"""A national or international view: regional servers push published aggregates to a parent."""
