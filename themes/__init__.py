"""Team palettes, state colours and glyphs."""
