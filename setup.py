"""Packaging for efficientnet_tf: a Keras 3 / TensorFlow EfficientNet."""
from setuptools import find_packages, setup

setup(
    name="efficientnet_tf",
    version="0.1.0",
    description="EfficientNet B0-B7 for Keras 3 / TensorFlow: models, input pipeline, training, export.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["efficientnet_tf", "efficientnet_tf.*"]),
    package_data={"efficientnet_tf": ["assets/*.txt"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16,<3",
        "keras>=3.12",
        "tensorflow-datasets",
        "importlib_resources",  # TFDS's registered builders read their checksums through it (etils.epath)
        "scikit-learn",
        "h5py",
        "pillow",
        "matplotlib",
        "huggingface_hub",
        "safetensors",
        "filelock",
    ],
    extras_require={
        # Optional runtimes: LiteRT runs .tflite files, ONNX Runtime and OpenVINO run the .onnx export.
        "litert": ["ai-edge-litert"],
        "onnx": ["tf2onnx", "onnxruntime"],
        "openvino": ["openvino"],
        "dev": ["pytest", "pytest-timeout", "pytest-xdist", "nbmake", "nbformat", "ipykernel",
                "ai-edge-litert", "tf2onnx", "onnxruntime", "openvino"],
        "gpu": ["tensorflow[and-cuda]>=2.16,<3"],
    },
    entry_points={"console_scripts": ["efficientnet-tf=efficientnet_tf.cli:main"]},
)
