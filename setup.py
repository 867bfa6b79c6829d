"""Build script: declares the optional C record walker; metadata is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mtuscope.capture._walker",
            ["src/mtuscope/capture/_walker.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-std=c11"],
            optional=True,
        )
    ]
)
