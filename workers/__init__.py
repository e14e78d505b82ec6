"""RQ job functions. Each takes ids, never objects, and runs inside an app context."""
