"""Neural models: ONNX Runtime backends and sessions, tiled inference, the model registry and
model cards, datasets made from video, the PyTorch trainer and ONNX export.

This layer knows no ops and no runner (DESIGN.md): ops open sessions from it, the CLI trains
with it. PyTorch is needed only to train and export (``pip install 'vidlab[train]'``);
running a shipped model needs ONNX Runtime alone.
"""
