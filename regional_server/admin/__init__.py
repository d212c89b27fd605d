"""Admin pages: users, regions, enrollment codes (codes also for coordinators)."""
