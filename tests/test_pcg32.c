/* PCG32 against the reference generator's published demo output (pcg32-demo, seed 42, seq 54). */
#include <math.h>

#include "runtime/base/pcg32.h"
#include "tests/testutil.h"

START_TEST(test_reference_outputs) {
    Pcg32 r;
    pcg32_seed(&r, 42u, 54u);
    const uint32_t expect[6] = {0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e};
    for (int i = 0; i < 6; i++) ck_assert_uint_eq(pcg32_next(&r), expect[i]);
    /* the demo continues with 65 coin flips and 33 dice rolls using the bounded draw */
    const char *coins = "HHTTTHTHHHTHTTTHHHHHTTTHHHTHTHTHTTHTTTHHHHHHTTTTHHTTTTTHTTTTTTTHT";
    for (int i = 0; i < 65; i++) ck_assert_int_eq(pcg32_below(&r, 2) ? 'H' : 'T', coins[i]);
    const int rolls[33] = {3, 4, 1, 1, 2, 2, 3, 2, 4, 3, 2, 4, 3, 3, 5, 2, 3, 1, 3, 1, 5, 1, 4, 1, 5, 6, 4, 6, 6, 2, 6, 3, 3};
    for (int i = 0; i < 33; i++) ck_assert_int_eq((int)pcg32_below(&r, 6) + 1, rolls[i]);
}
END_TEST

START_TEST(test_double_and_normal) {
    Pcg32 r;
    pcg32_seed(&r, 7, 1);
    double sum = 0, sq = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = pcg32_double(&r);
        ck_assert(u >= 0.0 && u < 1.0);
    }
    for (int i = 0; i < n; i++) {
        double z = pcg32_normal(&r);
        sum += z;
        sq += z * z;
    }
    ck_assert(fabs(sum / n) < 0.02);       /* mean 0: 4.5 sigma = 0.01 */
    ck_assert(fabs(sq / n - 1.0) < 0.03);  /* variance 1 */
}
END_TEST

int main(void) {
    Suite *s = suite_create("pcg32");
    TCase *tc = tcase_create("pcg32");
    tcase_add_test(tc, test_reference_outputs);
    tcase_add_test(tc, test_double_and_normal);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
