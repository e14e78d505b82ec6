"""Pure functions of an uploaded summary: text extraction, readability and the checklist."""
