/* bcryptprimitives.dll for Wine 8, which has none: Rust's standard library (1.78 and
 * later) imports ProcessPrng from it at start-up, so without this file no Rust program for
 * Windows loads under Wine 8 ("Library bcryptprimitives.dll ... not found"). ProcessPrng
 * fills a buffer with random bytes from the system's generator; this one asks advapi32's
 * RtlGenRandom (SystemFunction036), which Wine has, in pieces of at most 256 MiB because
 * that takes a 32-bit length. Wine 9 and later have ProcessPrng and need none of this.
 *
 * Built by .ci/test-target:
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll processprng.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG piece = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, piece))
            return FALSE;
        data += piece;
        length -= piece;
    }
    return TRUE;
}
