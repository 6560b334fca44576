/* The contract every protocol parser follows: pure functions over a buffer that
 * holds everything received so far (from its start). They never read a socket. */
#ifndef DP_PARSE_H
#define DP_PARSE_H

enum parse_status {
    PARSE_ERROR = -1, /* malformed: the out-parameter says which reply to send */
    PARSE_MORE = 0,   /* a prefix of a valid message: call again with more bytes */
    PARSE_DONE = 1,   /* complete: *consumed bytes belong to the message */
};

#endif
