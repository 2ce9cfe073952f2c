"""One reader per clip family: video containers, DICOM, still images. ``upload.clips`` picks one."""
