/*
 * The addon's N-API files, each adding its functions to the exports (called once, by addon.c's
 * init; napi_ok or the failed call's status). What each exports is in its file's head comment
 * and typed in src/native.ts.
 */
#ifndef WSNIC_ADDON_H
#define WSNIC_ADDON_H
#include <node_api.h>

napi_status tap_register(napi_env env, napi_value exports);     /* tap.c: tapCreate, tapOpen */
napi_status tapport_register(napi_env env, napi_value exports); /* tapport.c: TapPort */
napi_status mask_register(napi_env env, napi_value exports);    /* mask.c: wsMask, wsUnmask */
napi_status notify_register(napi_env env, napi_value exports);  /* notify.c: sendDatagram, notifyBarrier */
napi_status fdpass_register(napi_env env, napi_value exports);  /* fdpass.c: memfdCreate, setCloexec, carrier* */
napi_status plane_register(napi_env env, napi_value exports);   /* plane_napi.c: plane* */
napi_status guard_register(napi_env env, napi_value exports);   /* guard_napi.c: Guard */

#endif
