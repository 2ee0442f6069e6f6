/* Wine 8 lacks ProcessPrng, which Rust's standard library on Windows takes its random bytes
 * from (bcryptprimitives.dll, Windows 10 and later). This stand-in exports it on top of
 * RtlGenRandom, so that boom-agent.exe runs under Wine as it does on a booth PC. It is only
 * put in the Wine prefix of the tests; a real Windows has the genuine DLL. */
#include <windows.h>

BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x7fffffff ? 0x7fffffff : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
