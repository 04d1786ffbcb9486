"""Every way rows get into the platform's database: factories (tests, small data), the bulk
loader (`hotel seed`, any scale), and the earlier system's database (`hotel adopt`)."""
