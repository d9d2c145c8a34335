"""Backstage catalog entities: loading files/folders/Locations, entity refs, filters."""
