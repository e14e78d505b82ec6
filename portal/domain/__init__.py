"""Domain helpers below the service layer: pure functions and the obligation store.

Nothing here imports ``portal.services`` or a blueprint package; the services and views import
these. See the README's "Code map".
"""
