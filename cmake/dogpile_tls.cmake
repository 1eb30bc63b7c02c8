# TLS for dogpile::redis (tls_options.hpp): OpenSSL, when found, is linked to
# the dogpile_redis target, which then defines DOGPILE_HAS_TLS=1 for its users.
#   DOGPILE_WITH_TLS=AUTO (default): TLS when OpenSSL is found
#   DOGPILE_WITH_TLS=ON:             fail the configure without OpenSSL
#   DOGPILE_WITH_TLS=OFF:            no TLS (rediss:// is a ConfigurationError)
# The installed dogpileConfig.cmake calls find_dependency(OpenSSL) when TLS was
# enabled here (DOGPILE_TLS_ENABLED, substituted into dogpileConfig.cmake.in).
set(DOGPILE_WITH_TLS AUTO CACHE STRING "TLS for dogpile::redis with OpenSSL: AUTO, ON or OFF")
set_property(CACHE DOGPILE_WITH_TLS PROPERTY STRINGS AUTO ON OFF)

set(DOGPILE_TLS_ENABLED OFF)
if(NOT DOGPILE_WITH_TLS STREQUAL "OFF")
  if(DOGPILE_WITH_TLS STREQUAL "ON")
    find_package(OpenSSL REQUIRED)
  else()
    find_package(OpenSSL QUIET)
  endif()
  if(OpenSSL_FOUND AND TARGET OpenSSL::SSL)
    set(DOGPILE_TLS_ENABLED ON)
  else()
    message(WARNING "OpenSSL not found: dogpile::redis is built without TLS (Debian: apt-get install libssl-dev)")
  endif()
endif()

function(dogpile_enable_tls target)
  if(DOGPILE_TLS_ENABLED)
    target_link_libraries(${target} INTERFACE OpenSSL::SSL OpenSSL::Crypto)
    target_compile_definitions(${target} INTERFACE DOGPILE_HAS_TLS=1)
  endif()
endfunction()
