"""Image algorithms shared by ops and metrics: optical flow, scene cuts, drawing."""
