"""Column names, defaults and the seed that the course uses everywhere.

Functions in ``reco`` take these as keyword defaults, so a learner can point
them at a data frame with other column names without editing the package.
"""

#: Column of raw MovieLens user ids.
USER_COL = "userId"
#: Column of raw MovieLens movie ids.
MOVIE_COL = "movieId"
#: Column of ratings, in stars.
RATING_COL = "rating"
#: Column of Unix timestamps (seconds).
TIMESTAMP_COL = "timestamp"
#: Column of movie titles in the movies table.
TITLE_COL = "title"
#: Column of ``|``-separated genres in the movies table.
GENRES_COL = "genres"
#: How MovieLens says a movie has no genre, in the genres column.
NO_GENRES = "(no genres listed)"
#: Column of encoded (contiguous, 0-based) user indices.
USER_IDX_COL = "user"
#: Column of encoded (contiguous, 0-based) movie indices.
MOVIE_IDX_COL = "movie"
#: Column of predicted ratings, in stars.
PREDICTION_COL = "prediction"
#: Column with each movie's number of ratings in a table (``rated_by``, ``similar_movies``).
N_RATINGS_COL = "n_ratings"

#: Columns of a ratings table, in order.
RATINGS_COLUMNS = (USER_COL, MOVIE_COL, RATING_COL, TIMESTAMP_COL)
#: Columns of a movies table, in order.
MOVIES_COLUMNS = (MOVIE_COL, TITLE_COL, GENRES_COL)

#: The seed of every random choice in the course.
SEED = 42

#: Lowest and highest rating MovieLens allows (half-star steps).
MIN_RATING = 0.5
MAX_RATING = 5.0
RATING_STEP = 0.5

#: How many recommendations a top-k list holds unless told otherwise.
DEFAULT_K = 10

#: The data set the course uses.
DEFAULT_DATASET = "ml-latest-small"

#: Environment variable that points the package at a folder of data sets.
DATA_HOME_ENV = "RECO_DATA_HOME"

#: Largest memory, in bytes (4 GiB), that one model may need to fit: the Keras
#: builders' embeddings with their gradients and Adam's moments, or EASE's
#: movies x movies matrices. Bigger models are refused with the sizes and the fix.
MAX_MODEL_BYTES = 4 * 1024**3
