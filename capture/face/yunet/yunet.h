#ifndef STATIOND_YUNET_H
#define STATIOND_YUNET_H
#ifdef __cplusplus
extern "C" {
#endif

typedef void *YuNet;

// yunet_new loads a model; NULL and a message in err (size errlen) on failure.
YuNet yunet_new(const char *model, float score, float nms, int topk, char *err, int errlen);
void yunet_free(YuNet y);
// yunet_detect runs on packed BGR pixels. It writes up to max rows of 15
// floats (x, y, w, h, 5 landmarks x/y, score) to out and returns the number
// of faces, or -1 with a message in err.
int yunet_detect(YuNet y, const unsigned char *bgr, int width, int height, int stride,
                 float *out, int max, char *err, int errlen);

#ifdef __cplusplus
}
#endif
#endif
