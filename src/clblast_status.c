/* SPDX-License-Identifier: MIT */
/* CLBlast status names, so users read "CLBlastInvalidLeadDimA", not -1016. */
#include "status.h"

const char *clmsd__clblast_status_name(int status)
{
    switch (status) {
    case 0: return "CLBlastSuccess";
    case -3: return "CLBlastOpenCLCompilerNotAvailable";
    case -4: return "CLBlastTempBufferAllocFailure";
    case -5: return "CLBlastOpenCLOutOfResources";
    case -6: return "CLBlastOpenCLOutOfHostMemory";
    case -11: return "CLBlastOpenCLBuildProgramFailure";
    case -30: return "CLBlastInvalidValue";
    case -36: return "CLBlastInvalidCommandQueue";
    case -38: return "CLBlastInvalidMemObject";
    case -42: return "CLBlastInvalidBinary";
    case -43: return "CLBlastInvalidBuildOptions";
    case -44: return "CLBlastInvalidProgram";
    case -45: return "CLBlastInvalidProgramExecutable";
    case -46: return "CLBlastInvalidKernelName";
    case -47: return "CLBlastInvalidKernelDefinition";
    case -48: return "CLBlastInvalidKernel";
    case -49: return "CLBlastInvalidArgIndex";
    case -50: return "CLBlastInvalidArgValue";
    case -51: return "CLBlastInvalidArgSize";
    case -52: return "CLBlastInvalidKernelArgs";
    case -53: return "CLBlastInvalidLocalNumDimensions";
    case -54: return "CLBlastInvalidLocalThreadsTotal";
    case -55: return "CLBlastInvalidLocalThreadsDim";
    case -56: return "CLBlastInvalidGlobalOffset";
    case -57: return "CLBlastInvalidEventWaitList";
    case -58: return "CLBlastInvalidEvent";
    case -59: return "CLBlastInvalidOperation";
    case -61: return "CLBlastInvalidBufferSize";
    case -63: return "CLBlastInvalidGlobalWorkSize";
    case -1024: return "CLBlastNotImplemented";
    case -1022: return "CLBlastInvalidMatrixA";
    case -1021: return "CLBlastInvalidMatrixB";
    case -1020: return "CLBlastInvalidMatrixC";
    case -1019: return "CLBlastInvalidVectorX";
    case -1018: return "CLBlastInvalidVectorY";
    case -1017: return "CLBlastInvalidDimension";
    case -1016: return "CLBlastInvalidLeadDimA";
    case -1015: return "CLBlastInvalidLeadDimB";
    case -1014: return "CLBlastInvalidLeadDimC";
    case -1013: return "CLBlastInvalidIncrementX";
    case -1012: return "CLBlastInvalidIncrementY";
    case -1011: return "CLBlastInsufficientMemoryA";
    case -1010: return "CLBlastInsufficientMemoryB";
    case -1009: return "CLBlastInsufficientMemoryC";
    case -1008: return "CLBlastInsufficientMemoryX";
    case -1007: return "CLBlastInsufficientMemoryY";
    case -2050: return "CLBlastInsufficientMemoryTemp";
    case -2049: return "CLBlastInvalidBatchCount";
    case -2048: return "CLBlastInvalidOverrideKernel";
    case -2047: return "CLBlastMissingOverrideParameter";
    case -2046: return "CLBlastInvalidLocalMemUsage";
    case -2045: return "CLBlastNoHalfPrecision";
    case -2044: return "CLBlastNoDoublePrecision";
    case -2043: return "CLBlastInvalidVectorScalar";
    case -2042: return "CLBlastInsufficientMemoryScalar";
    case -2041: return "CLBlastDatabaseError";
    case -2040: return "CLBlastUnknownError";
    case -2039: return "CLBlastUnexpectedError";
    }
    return "unknown CLBlast status";
}
