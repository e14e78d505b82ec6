"""The audit log pages: reviewers read and export the whole trail, sponsors their organisation's.

``views`` holds the blueprint; ``forms`` the filter form and the reviewer's audit sample forms.
"""
