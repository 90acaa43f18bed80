"""Tree and linear models (sklearn, XGBoost, LightGBM, revscoring) -> ONNX."""
