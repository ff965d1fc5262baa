/* SPDX-License-Identifier: MIT */
/* The rest of the catalogue of bad input: every public call not covered by the module tests,
 * with each invalid argument it can receive, returns its documented status with a message. */
#include "helpers.h"

Test(api, handles_and_queries_accept_null)
{
    clmsd_context_destroy(NULL);
    clmsd_head_destroy(NULL);
    cr_assert_null(clmsd_context_cl_context(NULL));
    cr_assert_null(clmsd_context_queue(NULL));
    cr_assert_null(clmsd_context_device(NULL));
    cr_assert_str_eq(clmsd_context_device_name(NULL), "");
    cr_assert_eq(clmsd_head_engine(NULL), CLMSD_ENGINE_AUTO);
    cr_assert_str_eq(clmsd_version_string(), CLMSD_VERSION_STRING);
    cr_assert_str_eq(clmsd_status_string((clmsd_status)12345), "unknown status");
}

Test(api, null_arguments)
{
    size_t n;
    cr_assert_eq(clmsd_devices_list(NULL, 0, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_devices_list(NULL, 3, &n), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_str_neq(clmsd_context_last_error(NULL), "");
    cr_assert_eq(clmsd_context_warmup(NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_context_create_from_queue(NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    clmsd_head_desc d = {.batch = 4, .features = 8, .classes = 3, .samples = 2, .rate = 0.5};
    cr_assert_eq(clmsd_head_workspace_size(NULL, &n), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_head_workspace_size(&d, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_head_forward(NULL, NULL, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_head_predict(NULL, NULL, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_stream_words(NULL, 0, 0, 0, 0, 1, NULL, 0, 0, NULL, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
}

Test(api, host_references_validate)
{
    float x[8] = {0}, y[16];
    uint8_t m[16];
    clmsd_dropout_desc ok = {.seed = 1, .step = 2, .samples = 2, .rate = 0.5, .rows = 2, .cols = 4};
    clmsd_dropout_desc bad_rate = ok, zero = ok;
    bad_rate.rate = 1.0;
    zero.cols = 0;
    cr_assert_eq(clmsd_ref_dropout_forward(NULL, x, 4, y, 4), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_ref_dropout_forward(&ok, NULL, 4, y, 4), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_ref_dropout_forward(&ok, x, 3, y, 4), CLMSD_ERROR_INVALID_SIZE);
    cr_assert_eq(clmsd_ref_dropout_forward(&bad_rate, x, 4, y, 4), CLMSD_ERROR_INVALID_RATE);
    cr_assert_eq(clmsd_ref_dropout_mask(&zero, m), CLMSD_ERROR_INVALID_SIZE);
    cr_assert_eq(clmsd_ref_dropout_mask(&ok, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_ref_dropout_backward(&ok, y, 4, NULL, 4, 0), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_ref_dropout_mask(&ok, m), CLMSD_SUCCESS);
    clmsd_head_desc d = {.batch = 2, .features = 4, .classes = 3, .samples = 2, .rate = 0.5};
    clmsd_ref_head_args ra = {0};
    clmsd_ref_head_exact_args ea = {0};
    cr_assert_eq(clmsd_ref_head_train_step(&d, &ra), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_ref_head_train_step(NULL, &ra), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_ref_head_exact_train_step(&d, NULL), CLMSD_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(clmsd_ref_head_exact_predict(&d, &ea), CLMSD_ERROR_INVALID_ARGUMENT);
    d.samples = 0;
    cr_assert_eq(clmsd_ref_head_predict(&d, &ra), CLMSD_ERROR_INVALID_SIZE);
    cr_assert_eq(clmsd_rate_params(-1.0, NULL, NULL), CLMSD_ERROR_INVALID_RATE);
}
