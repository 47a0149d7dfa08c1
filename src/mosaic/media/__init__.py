"""Media: photos and videos of a legacy, their blobs, checks and derivatives."""
