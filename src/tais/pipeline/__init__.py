"""Run a screen config end to end: battery x arms -> store -> scores -> screen -> reports."""
