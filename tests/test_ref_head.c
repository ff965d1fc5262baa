#include "helpers.h"
Test(x, y) { cr_assert(1); }
