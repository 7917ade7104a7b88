"""`fsck` and `gc`: checking and tidying a vault."""
