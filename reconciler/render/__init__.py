"""Views of results for people and machines; nothing here decides anything."""
