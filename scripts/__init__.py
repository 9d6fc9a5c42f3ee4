"""Operator scripts; example_data is also imported by the tests and the bench."""
