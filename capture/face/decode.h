#ifndef STATIOND_FACE_DECODE_H
#define STATIOND_FACE_DECODE_H
#ifdef __cplusplus
extern "C" {
#endif
// face_imdecode decodes an encoded image into dst (a cv::Mat*), reusing
// dst's buffer when the size matches. Returns 0 on success, -1 when the
// image could not be decoded (err then holds OpenCV's message, if any).
int face_imdecode(const unsigned char *buf, int len, int flags, void *dst, char *err, int errlen);
#ifdef __cplusplus
}
#endif
#endif
