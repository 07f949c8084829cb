"""Sinks write mapped rows into the destination table and report what the database did."""
