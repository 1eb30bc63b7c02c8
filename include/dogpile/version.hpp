#pragma once
/// \file
/// The library's version, for code that must compile against more than one
/// release. CMake reads MAJOR, MINOR and PATCH from this file into
/// project(VERSION), so the headers, dogpileConfigVersion.cmake and the
/// pkg-config files cannot disagree. While 0.x, any minor release may break
/// the API (CHANGELOG.md).

/// Major version: incompatible changes from 1.0 on.
#define DOGPILE_VERSION_MAJOR 0
/// Minor version: while the major version is 0, a new minor may break the API.
#define DOGPILE_VERSION_MINOR 1
/// Patch version: fixes only.
#define DOGPILE_VERSION_PATCH 0

/// The version as one comparable number, MAJOR * 10000 + MINOR * 100 + PATCH
/// (0.1.0 is 100), for `#if DOGPILE_VERSION >= 200`.
#define DOGPILE_VERSION (DOGPILE_VERSION_MAJOR * 10000 + DOGPILE_VERSION_MINOR * 100 + DOGPILE_VERSION_PATCH)

/// Expands its argument, then makes it a string literal (used by DOGPILE_VERSION_STRING).
#define DOGPILE_STRINGIFY(x) DOGPILE_STRINGIFY_UNEXPANDED(x)
/// Makes its argument, unexpanded, a string literal (used by DOGPILE_STRINGIFY).
#define DOGPILE_STRINGIFY_UNEXPANDED(x) #x

/// The version as a string literal, "MAJOR.MINOR.PATCH" ("0.1.0").
#define DOGPILE_VERSION_STRING               \
    DOGPILE_STRINGIFY(DOGPILE_VERSION_MAJOR) \
    "." DOGPILE_STRINGIFY(DOGPILE_VERSION_MINOR) "." DOGPILE_STRINGIFY(DOGPILE_VERSION_PATCH)
