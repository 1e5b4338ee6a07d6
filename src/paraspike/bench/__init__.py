"""Benchmark programs (not tests): they print tables and write JSON under a results folder."""
