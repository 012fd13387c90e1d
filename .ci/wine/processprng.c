/* Test setup only, never shipped: Wine 8's bcryptprimitives.dll lacks ProcessPrng, which
 * Rust's standard library imports on Windows, so no Rust .exe starts under Wine 8 without this
 * stand-in. It exports ProcessPrng alone, on top of RtlGenRandom (advapi32's SystemFunction036);
 * the runner puts it beside the test executables and tells Wine to prefer it. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
