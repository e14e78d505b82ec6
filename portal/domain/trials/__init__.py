"""What the portal derives from a trial record: the facts the rules read."""
