/* Unit tests for runtime/dtype: f16/bf16 conversions round trip and round to nearest even. */
#include <math.h>

#include "runtime/base/dtype.h"
#include "tests/testutil.h"

START_TEST(test_f16_exact_values) {
    ck_assert_uint_eq(f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(f32_to_f16(-2.0f), 0xc000);
    ck_assert_uint_eq(f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(f32_to_f16(1e6f), 0x7c00);           /* overflow -> inf */
    ck_assert_uint_eq(f32_to_f16(5.9604645e-8f), 0x0001);  /* smallest subnormal */
    ck_assert_uint_eq(f32_to_f16(0.0f), 0x0000);
    ck_assert(isnan(f16_to_f32(f32_to_f16(NAN))));
    ck_assert_float_eq(f16_to_f32(0x3555), 0.333251953125f);
    ck_assert_float_eq(f16_to_f32(0x0001), 5.9604645e-8f);
}
END_TEST

START_TEST(test_f16_round_trip_all) {
    /* every finite f16 value survives f16 -> f32 -> f16 */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        ck_assert_uint_eq(f32_to_f16(f16_to_f32((uint16_t)h)), h);
    }
}
END_TEST

START_TEST(test_f16_ties_to_even) {
    /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: rounds to even (1.0) */
    ck_assert_uint_eq(f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00);
    /* 1 + 3*2^-11 is halfway between 1+2^-10 and 1+2^-9: rounds to even (1+2^-9) */
    ck_assert_uint_eq(f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
}
END_TEST

START_TEST(test_bf16) {
    ck_assert_uint_eq(f32_to_bf16(1.0f), 0x3f80);
    ck_assert_float_eq(bf16_to_f32(0x3f80), 1.0f);
    ck_assert_uint_eq(f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3f80); /* tie -> even */
    ck_assert_uint_eq(f32_to_bf16(1.0f + 3 * ldexpf(1, -8)), 0x3f82);
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7f80) == 0x7f80) continue;
        ck_assert_uint_eq(f32_to_bf16(bf16_to_f32((uint16_t)h)), h);
    }
    float x[3] = {1.5f, -3.25f, 1e-3f}, y[3];
    uint16_t b[3];
    convert_from_f32(b, x, DT_BF16, 3);
    convert_to_f32(y, b, DT_BF16, 3);
    for (int i = 0; i < 3; i++) ck_assert(fabsf(y[i] - x[i]) <= fabsf(x[i]) * 1.0f / 256);
}
END_TEST

START_TEST(test_parse) {
    DType t;
    ck_assert_int_eq(dtype_parse("bf16", &t), 0);
    ck_assert_int_eq(t, DT_BF16);
    ck_assert_int_eq(dtype_parse("F16", &t), 0);
    ck_assert_int_eq(t, DT_F16);
    ck_assert_int_eq(dtype_parse("float32", &t), 0);
    ck_assert_int_eq(t, DT_F32);
    ck_assert_int_eq(dtype_parse("q4_0", &t), -1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("dtype");
    TCase *tc = tcase_create("convert");
    tcase_add_test(tc, test_f16_exact_values);
    tcase_add_test(tc, test_f16_round_trip_all);
    tcase_add_test(tc, test_f16_ties_to_even);
    tcase_add_test(tc, test_bf16);
    tcase_add_test(tc, test_parse);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
