"""What a profile leaves identifiable, held against DICOM PS3.15 Annex E Table E.1-1."""
