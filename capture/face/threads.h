#ifndef STATIOND_FACE_THREADS_H
#define STATIOND_FACE_THREADS_H
#ifdef __cplusplus
extern "C" {
#endif
void face_set_cv_threads(int n);
int face_get_cv_threads(void);
#ifdef __cplusplus
}
#endif
#endif
