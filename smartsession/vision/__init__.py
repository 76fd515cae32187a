"""The vision pipeline: the only package that imports cv2, mediapipe or LiteRT.

Pixels stay inside this package; what leaves it is `FrameSignals` (numbers only).
"""
