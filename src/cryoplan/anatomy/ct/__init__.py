"""A patient's CT: read it (``read``), classify its tissues and find the vertebrae and the nerve
targets on the patient's own bone, without trained weights."""
