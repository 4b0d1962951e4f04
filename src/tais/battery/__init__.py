"""Tasks and items: loaders for files, the hub and package-index artifacts; the built-in benchmark registry; source pinning and the artifact cache."""
